-- Broadcasts start from the outbox too: accepting one stores the broadcast and its start intent in one
-- transaction, and the workers start its BroadcastWorkflow as they start notifications. A row starts either a
-- notification's workflow or a broadcast's, never both.
ALTER TABLE workflow_start ALTER COLUMN notification_id DROP NOT NULL;
ALTER TABLE workflow_start ADD COLUMN broadcast_id text UNIQUE REFERENCES broadcast (id) ON DELETE CASCADE;
ALTER TABLE workflow_start ADD CONSTRAINT workflow_start_one_subject
    CHECK ((notification_id IS NULL) <> (broadcast_id IS NULL));
