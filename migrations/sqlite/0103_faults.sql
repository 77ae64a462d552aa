-- Fault rules on demand (kiln admin fault, /kiln/v1/faults): the rule as JSON (its shape is
-- the serde struct service::fault::FaultSpec), and how often it has fired.
CREATE TABLE faults (
    id TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    fired INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

-- The fault a task carries from the call that made it (tasks::TaskFault as JSON).
ALTER TABLE tasks ADD COLUMN fault TEXT;
