"""Reports: tables, JSON documents and CSV rows for the command line (layer 3)."""
