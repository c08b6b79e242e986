"""Vietnam's provinces and communes (since 1 July 2025) and Vietnamese text normalisation."""
