"""HJ 212 (污染物在线监控（监测）系统数据传输标准) link to Chinese environmental platforms.

See ``HJ212.md`` beside this file for what is implemented and how the box's data map onto it.
"""
