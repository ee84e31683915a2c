"""The checks. Each test is one column of the matrix, parametrized by ``backend_name``."""
