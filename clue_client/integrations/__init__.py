"""Optional bridges to tools users already run (MLflow today). Each lives behind its own extra and is
imported only by the command that uses it, so the core install and ``clue --help`` never load them."""
