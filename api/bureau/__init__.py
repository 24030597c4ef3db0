"""The bureau's side: filing methodologies, reading quantification results and reports."""
