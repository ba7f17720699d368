-- The paper portfolio: one row per symbol per trading run (the position after
-- the run's decision), with the buy-and-hold benchmark on the same prices.
CREATE TABLE portfolio (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    symbol           TEXT    NOT NULL,
    at               INTEGER NOT NULL,
    price            REAL    NOT NULL,
    action           TEXT    NOT NULL,
    target_weight    REAL    NOT NULL,
    units            REAL    NOT NULL,
    cash             REAL    NOT NULL,
    equity           REAL    NOT NULL,
    peak_equity      REAL    NOT NULL,
    drawdown         REAL    NOT NULL,
    max_drawdown     REAL    NOT NULL,
    trades           INTEGER NOT NULL,
    costs            REAL    NOT NULL,
    benchmark_units  REAL    NOT NULL,
    benchmark_equity REAL    NOT NULL,
    decision_id      INTEGER,
    flow_run_id      TEXT
);
CREATE INDEX portfolio_by_symbol ON portfolio (symbol, at);
