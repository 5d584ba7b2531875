"""``python -m veille``."""

from veille.cli import main

if __name__ == "__main__":
    main()
