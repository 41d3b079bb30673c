"""The pieces of run_demo.py, the whole pipeline on the bundled sample data.

What lives where: `layout` (where the demo reads and writes; the output directory's safety
rules), `child_process` (running one of the repository's scripts as a stage, its output on the
console and in a log), `report` (reading the results back and printing the tables). The stages
themselves and the command line stay in run_demo.py.
"""
