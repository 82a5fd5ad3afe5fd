"""The stable plugin API of Syncsite's host inventory. Import only from `syncerapi.v1` and its modules."""
