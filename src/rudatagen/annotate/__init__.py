"""Human review: items, sampling, aggregation, agreement, and the annotation tools behind one
interface (``tool.py``; registered in ``tools.py``; Label Studio in ``label_studio/``)."""
