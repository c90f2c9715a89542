DROP TABLE IF EXISTS django_import;
