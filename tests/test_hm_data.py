"""pmgen.data.hm: the H&M reader on tiny files written here, photos made with PIL."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from pmgen.data import FORMATS, InvalidInputError, detect_format, load_interactions, read_hm
from pmgen.data.hm import article_id, article_item, photo_path
from pmgen.data.splits import leave_one_out

ARTICLE_HEADER = (
    "article_id,product_code,prod_name,product_type_name,product_group_name,"
    "colour_group_name,section_name,detail_desc"
)
ARTICLES = [
    ARTICLE_HEADER,
    '0108775015,108775,Strap top,Vest top,Garment Upper body,Black,"Womens Everyday Basics",'
    "Jersey top with narrow shoulder straps.",
    # written without the leading zero, as pandas writes it when it reads ids as numbers
    "110065001,110065,OP T-shirt (Idro),Bra,Unknown,Off White,Womens Lingerie,",
    "0111565001,111565,20 den 1p Stockings,Underwear Tights,Socks & Tights,Other,,"
    '"Semi shiny nylon stockings, 20 denier."',
    "0999999001,999999,Never bought,Hat/beanie,Accessories,Red,Divided,A hat.",
]
CUSTOMERS = ["customer_id,FN,Active,age", "c1,,,21.0", "c2,1.0,1.0,45.0"]
TRANSACTIONS = [
    "t_dat,customer_id,article_id,price,sales_channel_id",
    "2018-09-21,c1,0111565001,0.02,2",
    "2018-09-20,c1,0108775015,0.01,2",
    "2018-09-21,c1,0110065001,0.03,1",  # same day as line 2: file order kept
    "2018-09-20,c2,0110065001,0.03,1",
    "2018-09-22,c2,0108775015,0.01,2",
    "2018-09-22,c2,0108775015,0.01,2",  # two units bought: two purchases
]


def write_photo(folder: Path, item_id: str, colour: tuple[int, int, int]) -> Path:
    path = photo_path(folder, item_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (12, 18), colour).save(path)
    return path


def write_hm(
    folder: Path,
    transactions: list[str] = TRANSACTIONS,
    customers: list[str] | None = CUSTOMERS,
    names: tuple[str, str, str] = (
        "articles.csv",
        "customers.csv",
        "transactions_train.csv",
    ),
) -> Path:
    """A tiny H&M folder: photos for two of the three bought articles, none for 0111565001."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / names[0]).write_text("\n".join(ARTICLES) + "\n")
    if customers is not None:
        (folder / names[1]).write_text("\n".join(customers) + "\n")
    (folder / names[2]).write_text("\n".join(transactions) + "\n")
    write_photo(folder, "0108775015", (200, 10, 10))
    write_photo(folder, "0110065001", (10, 10, 200))
    return folder


def test_items_users_and_photos(tmp_path: Path) -> None:
    data = read_hm(write_hm(tmp_path / "hm"))
    assert data.name == "hm"
    # the catalogue is the bought articles, in articles-file order
    assert list(data.items) == ["0108775015", "0110065001", "0111565001"]
    top = data.items["0108775015"]
    assert top.title == "Strap top"
    assert top.category == "Garment Upper body"
    assert top.body == (
        "Vest top in black, from Womens Everyday Basics. Jersey top with narrow shoulder straps."
    )
    assert top.images == [tmp_path / "hm" / "images" / "010" / "0108775015.jpg"]
    # zero-padded id; 'Unknown' product group falls back to the product type
    bra = data.items["0110065001"]
    assert bra.category == "Bra"
    assert bra.body == "Bra in off white, from Womens Lingerie."
    assert bra.images == [photo_path(tmp_path / "hm", "0110065001")]
    # no photo on disk: the article is kept, with no image; 'Other' colour is no colour
    tights = data.items["0111565001"]
    assert tights.images == []
    assert tights.body == "Underwear Tights. Semi shiny nylon stockings, 20 denier."
    # by date, ties in file order; a repeated purchase stays
    assert data.sequences == {
        "c1": ["0108775015", "0111565001", "0110065001"],
        "c2": ["0110065001", "0108775015", "0108775015"],
    }
    assert data.report.rows_read == 4 + 2 + 6
    assert data.report.num_skipped == 0


def test_sample_file_names_format_detection_and_split(tmp_path: Path) -> None:
    names = ("articles_train_sample.csv", "customers_sample.csv", "transactions_train_sample.csv")
    folder = write_hm(tmp_path / "sample", names=names)
    assert "hm" in FORMATS
    assert detect_format(folder) == "hm"
    assert detect_format(folder / "transactions_train_sample.csv") == "hm"
    for source, fmt in ((folder, "auto"), (folder / "articles_train_sample.csv", "hm")):
        data = load_interactions(source, format=fmt)
        assert data.num_users == 2 and data.num_items == 3
    splits = leave_one_out(load_interactions(folder))
    assert splits.user_ids == ["c1", "c2"]
    assert splits.item_ids == ["0108775015", "0110065001", "0111565001"]
    assert splits.test_target == [2, 1]


def test_customers_file_is_optional(tmp_path: Path) -> None:
    data = read_hm(write_hm(tmp_path / "hm", customers=None))
    assert data.num_users == 2 and data.num_interactions == 6


def test_unknown_article_raises_or_is_counted(tmp_path: Path) -> None:
    rows = [*TRANSACTIONS, "2018-09-23,c1,0123456001,0.02,2"]
    folder = write_hm(tmp_path / "hm", transactions=rows)
    with pytest.raises(InvalidInputError) as err:
        read_hm(folder)
    message = str(err.value)
    assert message.endswith("transactions_train.csv:8: field 'article_id': unknown item id "
                            "'0123456001'")  # fmt: skip
    data = read_hm(folder, skip_invalid=True)
    assert data.report.skipped == {"unknown item id": 1}
    assert data.sequences["c1"] == ["0108775015", "0111565001", "0110065001"]


def test_unknown_customer_and_bad_date(tmp_path: Path) -> None:
    rows = [*TRANSACTIONS, "2018-09-23,c9,0108775015,0.02,2", "23/09/2018,c1,0108775015,0.02,2"]
    folder = write_hm(tmp_path / "hm", transactions=rows)
    with pytest.raises(InvalidInputError, match=r":8: field 'customer_id': unknown customer id"):
        read_hm(folder)
    data = read_hm(folder, skip_invalid=True)
    assert data.report.skipped == {"unknown customer id": 1, "bad time": 1}
    assert ":9: field 't_dat': date '23/09/2018' is not YYYY-MM-DD" in data.report.examples[1]
    assert data.num_interactions == 6


def test_corrupt_photo_raises_or_leaves_the_article_without_image(tmp_path: Path) -> None:
    folder = write_hm(tmp_path / "hm")
    photo_path(folder, "0110065001").write_bytes(b"not a jpeg")
    with pytest.raises(InvalidInputError, match=r"articles.csv:3: field 'image': corrupt image"):
        read_hm(folder)
    data = read_hm(folder, skip_invalid=True)
    assert data.report.skipped == {"corrupt image file": 1}
    assert data.items["0110065001"].images == []
    assert data.items["0110065001"].title == "OP T-shirt (Idro)"
    assert data.num_interactions == 6  # its purchases are kept
    assert read_hm(folder, check_images=False).items["0110065001"].images


def test_missing_files_and_helpers(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no H&M file"):
        read_hm(tmp_path / "empty")
    assert article_id(" 108775015 ") == "0108775015"
    assert article_id("0108775015") == "0108775015"
    assert photo_path("d", "0108775015") == Path("d/images/010/0108775015.jpg")
    bare = article_item("0000000001", {"prod_name": "Thing", "product_type_name": "Unknown"})
    assert (bare.title, bare.body, bare.category) == ("Thing", "", "")
