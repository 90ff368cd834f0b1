"""Reading cost and token-spend exports into normalised rows (issue 15, T24).

Every reader here is pure and streaming: it takes an open file and yields one
:class:`~subgraphs.fin.importers.rows.CostRow` / ``TokenRow`` or one ``Problem`` per
source row, never holding the file in memory. Checking (services in ops, attribution,
prices) and storing are ``subgraphs/fin/ingest.py``'s business; ``staging`` is the
database side it stores through.

| module | reads |
|--------|-------|
| ``csv_costs`` | cost CSVs through a column mapping (``mappings``: presets and mapping files) |
| ``opencost`` | OpenCost's ``/allocation/compute`` JSON (through ``jsonstream``) |
| ``tokens`` | Anthropic and OpenAI usage exports, CSV or JSON |
| ``prices`` | the per-model price table for exports without a cost |
| ``attribution`` | rules linking vendors and resource labels to ops services |
| ``staging`` | (not a reader) a file's rows in a temporary table, then stored in bulk |
"""
