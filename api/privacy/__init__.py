"""A resident's rights over their personal information (PIPL 个人信息保护法 arts. 44–47): the
consent history, an export of everything held about them, and closing the account."""
