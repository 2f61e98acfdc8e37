"""The application operations, above the review desk, the traces and the evaluation: run a batch
(`runner`, `debating`, `workers`, `run_settings`), `index`, `learn` (+ `rejudge`), `train`, and the
`live` trace."""
