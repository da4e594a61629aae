"""Regenerate the bundled sample's images and users from its hand-written items.jsonl (seeded).

Run ``python -m pmgen.data.make_sample``. The item texts in ``pmgen/sample/items.jsonl``
are written by hand and kept; this script sets their ``images`` field, saves those
images from scikit-image's bundled public-domain photos (long side at most 256 px,
JPEG), and writes ``users.jsonl``: 40 users whose 8-20 clicks come mostly from one or
two preferred categories (a two-category user drifts from the first to the second
over time) with some clicks elsewhere. The output is the same on every run.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from pmgen.data.sample import sample_dir

SEED = 20240601
NUM_USERS = 40
MIN_CLICKS, MAX_CLICKS = 8, 20
P_PREFERRED = 0.8
MAX_SIDE = 256

# item id -> skimage.data photo that fits the story
IMAGES = {
    "N003": "horse",  # equestrian championship
    "N008": "grass",  # cricket clubs share groundskeeping kit
    "N009": "camera",  # film cameras
    "N010": "page",  # library scans old newspapers
    "N017": "coffee",  # coffee roasters
    "N025": "rocket",  # rocket engine test
    "N026": "astronaut",  # space station crew
    "N027": "hubble_deep_field",  # faint galaxies
    "N028": "moon",  # lunar map
    "N029": "chelsea",  # cats recognise their names
    "N033": "stereo_motorcycle",  # coastal motorcycle route
    "N041": "coins",  # commemorative coins
}


def save_image(name: str, target: Path) -> None:
    """Save skimage's ``name`` photo as a JPEG with its long side at most ``MAX_SIDE``."""
    from skimage import data

    pixels = getattr(data, name)()
    if isinstance(pixels, tuple):  # stereo pairs: keep the left view
        pixels = pixels[0]
    if pixels.dtype == bool:
        pixels = pixels.astype(np.uint8) * 255
    image = Image.fromarray(np.ascontiguousarray(pixels))
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    image.save(target, "JPEG", quality=85, optimize=True)


def make_users(items: list[dict], rng: random.Random) -> list[dict]:
    """Chronological click histories with one or two preferred categories and some noise."""
    by_category: dict[str, list[str]] = defaultdict(list)
    for item in items:
        by_category[item["category"]].append(item["id"])
    categories = sorted(by_category)
    users = []
    for number in range(1, NUM_USERS + 1):
        preferred = rng.sample(categories, 2 if rng.random() < 0.6 else 1)
        pool = sum(len(by_category[c]) for c in preferred)
        length = rng.randint(MIN_CLICKS, min(MAX_CLICKS, pool + 4))
        seen: set[str] = set()
        history: list[str] = []
        for step in range(length):
            if len(preferred) == 2:  # interest drifts from the first category to the second
                share = 0.2 + 0.6 * step / max(length - 1, 1)
                weights = [1 - share, share]
            else:
                weights = [1.0]
            if rng.random() < P_PREFERRED:
                category = rng.choices(preferred, weights)[0]
            else:
                category = rng.choice([c for c in categories if c not in preferred])
            choices = [i for i in by_category[category] if i not in seen]
            if not choices:  # that category is used up: any unseen item
                choices = [i["id"] for i in items if i["id"] not in seen]
            pick = rng.choice(choices)
            seen.add(pick)
            history.append(pick)
        users.append({"user_id": f"U{number:03d}", "history": history})
    return users


def main() -> None:
    folder = sample_dir()
    items_path = folder / "items.jsonl"
    items = [json.loads(line) for line in items_path.read_text("utf-8").splitlines() if line]
    image_dir = folder / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    for item in items:
        name = IMAGES.get(item["id"])
        item["images"] = [f"images/{name}.jpg"] if name else []
        if name:
            save_image(name, image_dir / f"{name}.jpg")
    with open(items_path, "w", encoding="utf-8") as handle:
        for item in items:
            handle.write(json.dumps(item, ensure_ascii=False) + "\n")
    users = make_users(items, random.Random(SEED))
    with open(folder / "users.jsonl", "w", encoding="utf-8") as handle:
        for user in users:
            handle.write(json.dumps(user) + "\n")
    clicks = sum(len(u["history"]) for u in users)
    print(f"{len(items)} items, {len(IMAGES)} images, {len(users)} users, {clicks} clicks")


if __name__ == "__main__":
    main()
