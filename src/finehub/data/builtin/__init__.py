"""Built-in datasets, one module each; importing this package registers them."""

from finehub.data.builtin import bbc_news, chinese_reviews, chnsenticorp  # noqa: F401
