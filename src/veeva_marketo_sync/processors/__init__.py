"""Stream processors (faust): mapping and conflict rules as pure functions, thin wiring."""
