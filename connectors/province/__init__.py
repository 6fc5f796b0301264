"""The province's unified 好差评 system (Shandong): its wire format (`wire`), SM2 sealing
(`cipher`), settings (`config`) and HTTP client (`client`)."""
