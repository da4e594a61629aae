"""`python -m pmgen` (and `accelerate launch -m pmgen ...`) runs the CLI."""

from pmgen.cli import app

if __name__ == "__main__":
    app()
