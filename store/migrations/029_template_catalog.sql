-- One number that changes with every write to templates, their translations and layouts. The API keeps what it
-- read of them for accepting and checks it against this number, a read far cheaper than the templates
-- themselves (services/accept_reads.py). A statement trigger bumps it in the writing transaction, so whoever
-- sees the write sees the new number; a statement that changes nothing bumps it all the same, which only costs
-- one fresh read.
CREATE TABLE template_catalog (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    version  bigint NOT NULL
);
INSERT INTO template_catalog (only_row, version) VALUES (true, 1);

CREATE FUNCTION template_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE template_catalog SET version = version + 1;
    RETURN NULL;
END $$;

CREATE TRIGGER template_catalog_template AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON template
    FOR EACH STATEMENT EXECUTE FUNCTION template_catalog_changed();
CREATE TRIGGER template_catalog_template_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON template_version
    FOR EACH STATEMENT EXECUTE FUNCTION template_catalog_changed();
CREATE TRIGGER template_catalog_template_locale AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON template_locale
    FOR EACH STATEMENT EXECUTE FUNCTION template_catalog_changed();
CREATE TRIGGER template_catalog_layout AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON layout
    FOR EACH STATEMENT EXECUTE FUNCTION template_catalog_changed();
CREATE TRIGGER template_catalog_layout_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON layout_version
    FOR EACH STATEMENT EXECUTE FUNCTION template_catalog_changed();
