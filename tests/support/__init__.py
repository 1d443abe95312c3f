"""Scaffolding shared by the tests and the benchmarks (bench/ imports it too): generated marts
for the scorer, and the Online Retail II exports read straight from Parquet."""
