"""Server-rendered pages (Jinja2), zh-CN first with an English switch."""
