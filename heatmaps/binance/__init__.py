"""Binance's public futures archive: its layout, its CSV formats, and downloading from it."""
