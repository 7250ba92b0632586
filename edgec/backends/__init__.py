"""Code generators beyond TVM's Relax VM: ``c`` writes a model as dependency-free C with one
static arena, for microcontrollers."""
