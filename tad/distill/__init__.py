"""Base distillation methods that TAD plugs into: one module per method.

``dm`` (distribution matching), ``mtt`` (the trajectory-matching maths), ``matching`` (the
loop MTT and DATM share), ``datm`` (DATM's initialisation) and ``base`` (drawing real
images per class). The synthetic set they produce is :class:`tad.synthetic.SyntheticSet`.
"""
