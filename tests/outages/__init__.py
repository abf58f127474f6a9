"""Every route of campus-idp with the directory, the Store or the database out of reach."""
