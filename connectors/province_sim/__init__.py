"""A strict fake of Shandong's unified 好差评 system, written from public integration code only."""
