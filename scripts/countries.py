#!/usr/bin/env python3
"""Print the country table of src/countries.c from libphonenumber's metadata.

Needs Debian's python3-phonenumbers (libphonenumber's metadata, Apache-2.0):
    apt-get install python3-phonenumbers
    /usr/bin/python3 scripts/countries.py > /tmp/table && edit src/countries.c

For each ISO 3166 alpha-2 region: its calling code, its trunk (national)
prefix, and its international call prefix when that is a plain run of digits
that does not start with 00 (00 is read as + everywhere).  The regular
expressions some regions add for parsing (carrier codes, local dialling
without an area code) are left out on purpose: see README, "Default country".
"""
import phonenumbers
from phonenumbers import PhoneMetadata
from phonenumbers.data import _AVAILABLE_REGION_CODES


def plain(prefix):
    return prefix if prefix and prefix.isdigit() else ''


print(f'\t/* iso, calling code, trunk prefix, international prefix: libphonenumber {phonenumbers.__version__} */')
for region in sorted(r for r in _AVAILABLE_REGION_CODES if len(r) == 2 and r.isalpha()):
    m = PhoneMetadata.metadata_for_region(region)
    trunk = plain(m.national_prefix)
    idd = plain(m.international_prefix) or plain(m.preferred_international_prefix)
    if idd.startswith('00'):
        idd = ''
    print(f'\t{{"{region}", "{m.country_code}", "{trunk}", "{idd}"}},')
