-- Translations of a template version, one row per locale. A version never changes: a new or removed
-- translation makes a new version, which takes the others along, so a notification pinned to a version
-- renders that version's texts.
CREATE TABLE template_locale (
    name       text NOT NULL,
    version    integer NOT NULL,
    locale     text NOT NULL,
    subject    text,
    body       text NOT NULL,
    html       text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version, locale),
    FOREIGN KEY (name, version) REFERENCES template_version (name, version)
);

-- The locale the client asked for (the notification's own, or its broadcast's), and the one it was rendered
-- with (NULL until it is).
ALTER TABLE notification ADD COLUMN requested_locale text;
ALTER TABLE notification ADD COLUMN locale text;
ALTER TABLE broadcast ADD COLUMN locale text;
