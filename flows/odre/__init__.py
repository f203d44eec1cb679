"""ODRÉ ingestion: dataset schemas, the exports client, the parser, incremental ingest, the flow."""
