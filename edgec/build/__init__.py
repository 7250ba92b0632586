"""Build: the pass runner, module statistics, code generation and linking."""
