"""Transit: fare data (GTFS-Fares v2 and extensions), the fare engine, taps, trips, offline
batches, paying for rides, and settlement with operators and between cities."""
