"""`make bench`: campus-idp side by side with panva's oidc-provider on loopback (bench/README.md)."""
