#!/bin/sh
# Set the passwords from the environment (deploy/idp.env), then run slapd in the foreground.
set -eu
if [ -n "${LDAP_ADMIN_PASSWORD:-}" ]; then
  hash=$(slappasswd -s "$LDAP_ADMIN_PASSWORD")
  printf 'dn: olcDatabase={1}mdb,cn=config\nchangetype: modify\nreplace: olcRootPW\nolcRootPW: %s\n' \
    "$hash" | slapmodify -q -n0 -F /etc/ldap/slapd.d
fi
if [ -n "${LDAP_SERVICE_PASSWORD:-}" ]; then
  hash=$(slappasswd -s "$LDAP_SERVICE_PASSWORD")
  printf 'dn: cn=idp,ou=services,dc=example,dc=edu\nchangetype: modify\nreplace: userPassword\nuserPassword: %s\n' \
    "$hash" | slapmodify -q -n1 -F /etc/ldap/slapd.d
fi
chown -R openldap:openldap /etc/ldap/slapd.d /var/lib/ldap /run/slapd
exec slapd -d "${LDAP_LOG_LEVEL:-stats}" -u openldap -g openldap -F /etc/ldap/slapd.d \
  -h "ldap:/// ldapi:///"
