"""Interface strings by area, zh-CN first and English; collector/web/i18n.py merges them."""
