"""Fixtures for the catalog tests: a fresh extraction of the current sources."""

from __future__ import annotations

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR
from bot.templates_cli import extract_catalog


@pytest.fixture(scope="session")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """What `pybabel extract` (babel.cfg) finds in flows/, bot/ and templates/ right now."""
    pot = tmp_path_factory.mktemp("pot") / "messages.pot"
    extract_catalog(pot)
    with pot.open("rb") as fh:
        return read_po(fh)


@pytest.fixture(scope="session")
def shipped() -> dict[str, Catalog]:
    """The committed catalogs, by language."""
    out: dict[str, Catalog] = {}
    for po in sorted(LOCALES_DIR.glob("*/LC_MESSAGES/messages.po")):
        language = po.parent.parent.name
        with po.open("rb") as fh:
            out[language] = read_po(fh, locale=language)
    return out
