"""Invoices and credit notes: issued on handover, numbered without gaps, never changed."""
