"""Ingest: validates gateway traffic, runs the silent-commerce rules, keeps state, writes time series."""
