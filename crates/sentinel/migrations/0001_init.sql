-- sentinel's own database: market bars, scored headlines, decisions, datasets.
-- Natural keys de-duplicate: a bar is (symbol, interval, ts); a headline is its key (link, id or title).

CREATE TABLE bars (
    symbol     TEXT    NOT NULL,
    interval   TEXT    NOT NULL,
    ts         INTEGER NOT NULL,
    open       REAL    NOT NULL,
    high       REAL    NOT NULL,
    low        REAL    NOT NULL,
    close      REAL    NOT NULL,
    volume     REAL    NOT NULL,
    fetched_at INTEGER NOT NULL,
    PRIMARY KEY (symbol, interval, ts)
);

CREATE TABLE headlines (
    key        TEXT    PRIMARY KEY,
    source     TEXT    NOT NULL,
    title      TEXT    NOT NULL,
    summary    TEXT,
    url        TEXT,
    published  INTEGER,
    fetched_at INTEGER NOT NULL,
    sentiment  REAL    NOT NULL,
    scorer     TEXT    NOT NULL
);

CREATE TABLE headline_symbols (
    key    TEXT NOT NULL REFERENCES headlines (key) ON DELETE CASCADE,
    symbol TEXT NOT NULL,
    PRIMARY KEY (key, symbol)
);
CREATE INDEX headline_symbols_by_symbol ON headline_symbols (symbol);

CREATE TABLE decisions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    decided_at    INTEGER NOT NULL,
    symbol        TEXT    NOT NULL,
    action        TEXT    NOT NULL CHECK (action IN ('BUY', 'SELL', 'HOLD')),
    score         REAL    NOT NULL,
    confidence    REAL    NOT NULL,
    price         REAL,
    model_version TEXT,
    inputs        TEXT    NOT NULL,
    flow_run_id   TEXT,
    forced        INTEGER NOT NULL
);
CREATE INDEX decisions_by_symbol ON decisions (symbol, decided_at);

CREATE TABLE datasets (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at INTEGER NOT NULL,
    symbol     TEXT    NOT NULL,
    interval   TEXT    NOT NULL,
    path       TEXT    NOT NULL,
    rows       INTEGER NOT NULL,
    report     TEXT    NOT NULL
);
