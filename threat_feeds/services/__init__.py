"""Service layer: the only code that writes. Views, tasks and commands call these."""
