"""The report's sections, one module each; ``reports.html`` puts them together into pages."""
