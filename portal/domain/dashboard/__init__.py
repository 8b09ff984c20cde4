"""The operations dashboard's figures: what staff keep open all day, computed in a few aggregates."""
