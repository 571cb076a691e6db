"""Built-in datasets, one module each; importing this package registers them."""

from finehub.data.builtin import (  # noqa: F401
    bbc_news,
    bbc_news_tasks,
    chinese_reviews,
    chnsenticorp,
    digits,
    lfw_faces,
    pasted_objects,
    peoples_daily_ner,
)
