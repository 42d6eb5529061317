-- Layouts: versioned like templates. A layout's html and text each hold `{{ content }}`, where the template's
-- rendered html or text goes. Deleting hides a layout; its versions stay for the notifications pinned to them.
CREATE TABLE layout (
    name           text PRIMARY KEY,
    latest_version integer NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz
);

CREATE TABLE layout_version (
    name       text NOT NULL REFERENCES layout (name),
    version    integer NOT NULL,
    html       text,
    text       text,
    includes   text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);

-- The layout a template version wraps itself in, and the templates its texts include (`{% include "name" %}`),
-- found when the version is saved so that accepting a notification need not parse its texts.
ALTER TABLE template_version ADD COLUMN layout text;
ALTER TABLE template_version ADD COLUMN includes text[] NOT NULL DEFAULT '{}';
ALTER TABLE template_locale ADD COLUMN includes text[] NOT NULL DEFAULT '{}';

-- The layout version and the versions of every included template, fixed when the notification is accepted
-- ({"layout": [name, version], "includes": {name: version}}): a later edit does not change what it says.
-- NULL when the template uses neither.
ALTER TABLE notification ADD COLUMN render_pins jsonb;
