"""Label Studio behind the annotation-tool interface: ``tool.LabelStudioTool``.

``connection`` (URL, key, one-line errors), ``projects`` (find/create, idempotent import,
progress), ``export`` (snapshot export → votes).
"""
