-- The lake's catalog lives on the same server as the Dagster instance, in a database of its own.
CREATE DATABASE confluence_lake;
