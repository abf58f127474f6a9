"""CAS 1.0, 2.0 and 3.0 (the CAS Protocol 3.0 specification, v3.0.3): the campus's older systems
in the same single sign-on as the OpenID Connect apps."""
