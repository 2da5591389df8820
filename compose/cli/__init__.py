"""pycompose's command line: the only place that reads argv and maps errors to exit codes."""
